from app.areas import Area

area = Area(name="clinic")

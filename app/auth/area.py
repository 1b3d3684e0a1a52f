from app.areas import Area
from app.auth.controller import AuthController

area = Area(name="auth", route_handlers=[AuthController])

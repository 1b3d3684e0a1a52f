from app.areas import Area
from app.users.bootstrap import ensure_admin_at_startup
from app.users.controller import RolesController, UsersController

area = Area(name="users", route_handlers=[UsersController, RolesController], on_startup=[ensure_admin_at_startup])

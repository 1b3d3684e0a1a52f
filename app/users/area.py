from app.areas import Area
from app.users.bootstrap import ensure_admin_at_startup
from app.users.controller import RolesController, UsersController
from app.users.session import SessionController

area = Area(
    name="users",
    route_handlers=[UsersController, RolesController, SessionController],
    on_startup=[ensure_admin_at_startup],
)

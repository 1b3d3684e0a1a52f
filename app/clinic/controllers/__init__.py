"""Routes of the clinic queue (docs/rules/clinic.md), one controller per resource: setup (clinic, services, rooms,
kiosks), staff (staff, invitations, activation), desk (the attendances), tickets (tickets, queue, display,
statistics) and pages (the TV and the kiosk). Each route declares the access it needs (app/clinic/access.py)."""

"""Start real servers (mod_wsgi-express, Apache, nginx, HAProxy, Caddy, gunicorn, waitress,
uWSGI, hypercorn).

Shared by ``tests/differential`` and ``tests/e2e``. Every server runs on a free
port of 127.0.0.1, from its own temporary directory under /tmp (0755 dirs, 0644
files, so that Apache's www-data children can read it), is waited for with a
bounded loop and is stopped by PID (its pid file and the process group it was
started in). A missing program makes the calling fixture skip with a visible
reason, or fail when ``CI=true``: CI must run these suites, not skip them.

Nothing here talks to any address outside 127.0.0.0/8.
"""

from realservers.common import (
    MODWSGI_VENV,
    ManagedServer,
    ServerStartError,
    free_port,
    make_server_dir,
    require,
    write_file,
)
from realservers.rawhttp import RawConnection, RawResponse, raw_request
from realservers.servers import (
    apache_config_test,
    modwsgi_express_path,
    modwsgi_module_config,
    start_apache_proxy,
    start_caddy,
    start_granian,
    start_gunicorn,
    start_haproxy,
    start_hypercorn,
    start_modwsgi_express,
    start_nginx,
    start_uwsgi,
    start_waitress,
    uwsgi_program,
)

__all__ = [
    "MODWSGI_VENV",
    "ManagedServer",
    "RawConnection",
    "RawResponse",
    "ServerStartError",
    "apache_config_test",
    "free_port",
    "make_server_dir",
    "modwsgi_express_path",
    "modwsgi_module_config",
    "raw_request",
    "require",
    "start_apache_proxy",
    "start_caddy",
    "start_granian",
    "start_gunicorn",
    "start_haproxy",
    "start_hypercorn",
    "start_modwsgi_express",
    "start_nginx",
    "start_uwsgi",
    "start_waitress",
    "uwsgi_program",
    "write_file",
]

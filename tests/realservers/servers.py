"""Start functions for each real server; each returns a started ManagedServer.

The caller owns the result: use it as a context manager (or call ``cleanup()``)
so the process is stopped by PID and its directory removed.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from realservers.common import (
    MODWSGI_VENV,
    ManagedServer,
    find_program,
    free_port,
    make_server_dir,
    require,
    write_file,
)
from realservers.rawhttp import ConnectionClosed, raw_request

APACHE_MODULES = Path("/usr/lib/apache2/modules")
REPO_ROOT = Path(__file__).resolve().parents[2]
INSTALL_HINT = "run `bash .ci/install-servers.sh` as root"


def http_ready(host: str, port: int, target: str = "/") -> bool:
    """True once host:port answers an HTTP request with any status."""
    try:
        raw_request(host, port, "GET", target, timeout=2.0)
    except (OSError, ConnectionClosed, ValueError):
        return False
    return True


def _require_www_data() -> None:
    try:
        pwd.getpwnam("www-data")
    except KeyError:
        require(False, "user www-data does not exist (Apache drops root to it)")
    require(os.geteuid() == 0, "Apache/mod_wsgi tests run as root (they switch to www-data)")


# --------------------------------------------------------------------------
# mod_wsgi-express


def modwsgi_express_path() -> str:
    """The mod_wsgi-express built by .ci/install-servers.sh (skip/fail if absent)."""
    express = MODWSGI_VENV / "bin" / "mod_wsgi-express"
    require(express.is_file(), f"mod_wsgi-express not found at {express}: {INSTALL_HINT}")
    _require_www_data()
    return str(express)


def modwsgi_module_config() -> str:
    """The ``LoadModule wsgi_module ...`` and ``WSGIPythonHome`` lines."""
    result = subprocess.run(
        [modwsgi_express_path(), "module-config"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout


def start_modwsgi_express(
    app_source: str,
    args: Sequence[str] = (),
    *,
    name: str = "modwsgi",
    ready_target: str | None = "/",
) -> ManagedServer:
    """``mod_wsgi-express start-server`` for *app_source* with extra *args*.

    One process, four threads, as www-data, on a free port of 127.0.0.1.
    Ready once ``GET ready_target`` answers; with ``ready_target=None``, once
    the port accepts connections (for configurations whose requests crash).
    """
    express = modwsgi_express_path()
    directory = make_server_dir(name)
    app = write_file(directory / "app.py", app_source)
    root = directory / "server-root"
    port = free_port()
    argv = [
        express, "start-server", str(app),
        "--host", "127.0.0.1", "--port", str(port),
        "--processes", "1", "--threads", "4",
        "--user", "www-data", "--group", "www-data",
        "--server-root", str(root),
        "--locale", "C.UTF-8",
        "--keep-alive-timeout", "15",
        *args,
    ]
    server = ManagedServer(
        name, argv, directory=directory, host="127.0.0.1", port=port,
        pid_file=root / "httpd.pid", logs=[root / "error_log"], cwd=directory,
    )
    if ready_target is None:
        return server.start()
    target = ready_target
    return server.start(ready=lambda: http_ready("127.0.0.1", port, target))


# --------------------------------------------------------------------------
# Apache (configuration checks, and as a reverse proxy)


def apache_binary() -> str:
    binary = find_program("apache2", "/usr/sbin/apache2")
    require(binary is not None, f"apache2 is not installed: {INSTALL_HINT}")
    assert binary is not None
    return binary


@dataclass(frozen=True)
class ConfigCheck:
    accepted: bool
    output: str


def apache_config_test(directives: str, *, load_modwsgi: bool = True) -> ConfigCheck:
    """``apache2 -t`` on a minimal configuration followed by *directives*."""
    binary = apache_binary()
    directory = make_server_dir("apache-t")
    try:
        lines = [
            f'ServerRoot "{directory}"',
            f'LoadModule mpm_event_module "{APACHE_MODULES}/mod_mpm_event.so"',
            f'LoadModule authz_core_module "{APACHE_MODULES}/mod_authz_core.so"',
            f'LoadModule unixd_module "{APACHE_MODULES}/mod_unixd.so"'
            if (APACHE_MODULES / "mod_unixd.so").exists() else "",
            f"Listen 127.0.0.1:{free_port()}",
            f'PidFile "{directory}/httpd.pid"',
            f'ErrorLog "{directory}/error_log"',
            "ServerName localhost",
        ]
        if load_modwsgi:
            lines.append(modwsgi_module_config())
        lines.append(directives)
        conf = write_file(directory / "httpd.conf", "\n".join(lines) + "\n")
        result = subprocess.run(
            [binary, "-t", "-f", str(conf)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        return ConfigCheck(result.returncode == 0, (result.stdout + result.stderr).strip())
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _fill(template: str, port: int, directory: Path) -> str:
    return template.replace("{port}", str(port)).replace("{dir}", str(directory))


APACHE_PROXY_MODULES = (
    "mpm_event", "authz_core", "unixd", "proxy", "proxy_http", "headers",
    "log_config", "alias",
)


def start_apache_proxy(body: str, *, name: str = "apache-proxy") -> ManagedServer:
    """Apache (mod_proxy, mod_proxy_http, mod_headers) with *body* in its config.

    ``{port}`` and ``{dir}`` in *body* are replaced by the listen port and the
    server's directory.
    """
    apache_binary()
    _require_www_data()
    for module in ("proxy", "proxy_http", "headers"):
        require(
            (APACHE_MODULES / f"mod_{module}.so").exists(),
            f"mod_{module}.so missing in {APACHE_MODULES}: {INSTALL_HINT}",
        )
    directory = make_server_dir(name)
    return _start_apache(name, directory, APACHE_PROXY_MODULES, body=body, settings=[
        "StartServers 1", "MaxRequestWorkers 16", "ThreadsPerChild 16"])


def _start_apache(name: str, directory: Path, modules: Sequence[str], *, body: str,
                  settings: Sequence[str], more_modules: str = "",
                  ready_target: str | None = None) -> ManagedServer:
    """Apache in the foreground from a configuration of our own in *directory*:
    the *modules* that are present loaded, then *more_modules* (configuration
    text), on a free port of 127.0.0.1, as www-data, its pid file and logs in
    *directory*, with *settings* (the MPM's limits) and *body* (``{port}`` and
    ``{dir}`` replaced). Ready once the port accepts connections, or once
    ``GET ready_target`` answers."""
    binary = apache_binary()
    port = free_port()
    loads = [
        f'LoadModule {module}_module "{APACHE_MODULES}/mod_{module}.so"'
        for module in modules
        if (APACHE_MODULES / f"mod_{module}.so").exists()
    ]
    conf_text = "\n".join([
        f'ServerRoot "{directory}"',
        *loads,
        more_modules,
        f"Listen 127.0.0.1:{port}",
        f'PidFile "{directory}/httpd.pid"',
        f'ErrorLog "{directory}/error_log"',
        "LogLevel warn",
        'LogFormat "%a %h \\"%r\\" %>s" simple',
        f'CustomLog "{directory}/access_log" simple',
        "User www-data",
        "Group www-data",
        "ServerName 127.0.0.1",
        f'DocumentRoot "{directory}"',
        *settings,
        _fill(body, port, directory),
        "",
    ])
    conf = write_file(directory / "httpd.conf", conf_text)
    server = ManagedServer(
        name, [binary, "-f", str(conf), "-DFOREGROUND"], directory=directory,
        host="127.0.0.1", port=port, pid_file=directory / "httpd.pid",
        logs=[directory / "error_log"],
    )
    if ready_target is None:
        return server.start()
    target = ready_target
    return server.start(ready=lambda: http_ready("127.0.0.1", port, target))


# --------------------------------------------------------------------------
# nginx


def start_nginx(server_body: str, *, name: str = "nginx") -> ManagedServer:
    """nginx in the foreground with one ``server {}`` holding *server_body*.

    ``{port}`` and ``{dir}`` in *server_body* are replaced by the listen port
    and the server's directory (nothing else is formatted: nginx braces stay).
    """
    binary = find_program("nginx", "/usr/sbin/nginx")
    require(binary is not None, f"nginx is not installed: {INSTALL_HINT}")
    assert binary is not None
    _require_www_data()
    directory = make_server_dir(name)
    temp = directory / "temp"
    temp.mkdir(mode=0o755)
    www = pwd.getpwnam("www-data")
    os.chown(temp, www.pw_uid, www.pw_gid)
    port = free_port()
    conf_text = f"""
user www-data www-data;
worker_processes 1;
pid {directory}/nginx.pid;
error_log {directory}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {directory}/access.log;
    client_body_temp_path {temp}/client;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    server {{
        listen 127.0.0.1:{port};
        server_name _;
{_fill(server_body, port, directory)}
    }}
}}
"""
    conf = write_file(directory / "nginx.conf", conf_text)
    argv = [binary, "-e", str(directory / "error.log"), "-p", str(directory),
            "-c", str(conf), "-g", "daemon off;"]
    server = ManagedServer(
        name, argv, directory=directory, host="127.0.0.1", port=port,
        pid_file=directory / "nginx.pid", logs=[directory / "error.log"],
    )
    return server.start()


# --------------------------------------------------------------------------
# HAProxy


def start_haproxy(body: str, *, name: str = "haproxy") -> ManagedServer:
    """HAProxy (``mode http``) in the foreground, listening on a free port.

    The configuration is a ``global`` and a ``defaults`` section, then
    ``frontend public`` with its ``bind`` line, followed by *body*: the rest of
    that frontend (``option forwardfor``, ``http-request ...``,
    ``default_backend ...``) and the ``backend`` sections. ``{port}`` and
    ``{dir}`` in *body* are replaced by the listen port and the server's
    directory. No master process or socket (``-db``, not ``-W``), no chroot,
    no user change; the log goes to standard output, kept with the server.
    """
    binary = find_program("haproxy", "/usr/sbin/haproxy")
    require(binary is not None, f"haproxy is not installed: {INSTALL_HINT}")
    assert binary is not None
    directory = make_server_dir(name)
    port = free_port()
    conf_text = f"""
global
    log stdout format raw local0 info
    maxconn 256

defaults
    mode http
    log global
    option httplog
    timeout connect 5s
    timeout client 30s
    timeout server 30s

frontend public
    bind 127.0.0.1:{port}
{_fill(body, port, directory)}
"""
    conf = write_file(directory / "haproxy.cfg", conf_text)
    argv = [binary, "-db", "-f", str(conf)]
    server = ManagedServer(name, argv, directory=directory, host="127.0.0.1", port=port,
                           cwd=directory)
    return server.start()


# --------------------------------------------------------------------------
# Caddy


def start_caddy(site_body: str, *, name: str = "caddy") -> ManagedServer:
    """Caddy (``caddy run``) serving one plain-HTTP site on a free port.

    The Caddyfile has a global block (``admin off``, ``auto_https off``, a
    bounded ``grace_period``, HTTP/1.1 only) and the site ``http://:PORT`` bound to
    127.0.0.1, holding *site_body* (``reverse_proxy ...``, ``handle_path ...``).
    ``{port}`` and ``{dir}`` in *site_body* are replaced by the listen port and
    the server's directory; Caddy's own ``{placeholders}`` are left alone.
    HOME, XDG_DATA_HOME and XDG_CONFIG_HOME point into the server's directory,
    so Caddy keeps nothing outside it.
    """
    binary = find_program("caddy", "/usr/bin/caddy")
    require(binary is not None, f"caddy is not installed: {INSTALL_HINT}")
    assert binary is not None
    directory = make_server_dir(name)
    port = free_port()
    caddyfile_text = f"""{{
    admin off
    auto_https off
    grace_period 2s
    storage file_system {directory}/data
    servers {{
        protocols h1
    }}
}}

http://:{port} {{
    bind 127.0.0.1
{_fill(site_body, port, directory)}
}}
"""
    caddyfile = write_file(directory / "Caddyfile", caddyfile_text)
    env = dict(os.environ)
    env.update(HOME=str(directory), XDG_DATA_HOME=str(directory / "data"),
               XDG_CONFIG_HOME=str(directory / "config"))
    argv = [binary, "run", "--config", str(caddyfile), "--adapter", "caddyfile",
            "--pidfile", str(directory / "caddy.pid")]
    server = ManagedServer(
        name, argv, directory=directory, host="127.0.0.1", port=port,
        pid_file=directory / "caddy.pid", env=env, cwd=directory,
    )
    return server.start()


# --------------------------------------------------------------------------
# Python WSGI servers for the back-end (run by this test interpreter)


def _python_env(extra_paths: Sequence[Path]) -> dict[str, str]:
    env = dict(os.environ)
    paths = [str(p) for p in extra_paths] + [str(REPO_ROOT)]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _write_app_dir(name: str, files: Mapping[str, str]) -> Path:
    directory = make_server_dir(name)
    for relative, text in files.items():
        write_file(directory / relative, text)
    return directory


def start_gunicorn(
    files: Mapping[str, str], app_spec: str, *, name: str = "gunicorn"
) -> ManagedServer:
    """gunicorn serving *app_spec* (``module:callable``) from *files*.

    gunicorn's own proxy handling is switched off (``--forwarded-allow-ips``
    names an address no test connects from) so that only our middleware acts.
    """
    require(importlib.util.find_spec("gunicorn") is not None,
            "gunicorn is not installed (pip install gunicorn)")
    directory = _write_app_dir(name, files)
    port = free_port()
    argv = [
        sys.executable, "-m", "gunicorn",
        "--bind", f"127.0.0.1:{port}",
        "--workers", "1", "--threads", "4",
        "--forwarded-allow-ips", "127.0.0.254",
        "--chdir", str(directory),
        "--pid", str(directory / "gunicorn.pid"),
        "--error-logfile", str(directory / "gunicorn.log"),
        "--access-logfile", str(directory / "access.log"),
        app_spec,
    ]
    return _start_python_server(name, argv, directory, port, pid_file=directory / "gunicorn.pid",
                                logs=[directory / "gunicorn.log"])


def _start_python_server(name: str, argv: list[str], directory: Path, port: int, *,
                         pid_file: Path | None = None, logs: Sequence[Path] = ()
                         ) -> ManagedServer:
    """Start a Python server (*argv*) serving from *directory* on 127.0.0.1:*port*,
    with *directory* on its ``sys.path``, ready once it answers HTTP."""
    server = ManagedServer(name, argv, directory=directory, host="127.0.0.1", port=port,
                           pid_file=pid_file, logs=logs, env=_python_env([directory]),
                           cwd=directory)
    return server.start(ready=lambda: http_ready("127.0.0.1", port))

WAITRESS_LAUNCHER = """\
import importlib, sys
from waitress import serve
module_name, _, attr = sys.argv[2].partition(":")
app = getattr(importlib.import_module(module_name), attr or "application")
serve(app, host="127.0.0.1", port=int(sys.argv[1]), threads=4,
      clear_untrusted_proxy_headers=False, ident="waitress")
"""


def start_waitress(
    files: Mapping[str, str], app_spec: str, *, name: str = "waitress"
) -> ManagedServer:
    """waitress serving *app_spec* (``module:callable``) from *files*.

    waitress's own proxy handling stays off (no ``trusted_proxy``, and
    ``clear_untrusted_proxy_headers=False``) so that only our middleware acts.
    """
    require(importlib.util.find_spec("waitress") is not None,
            "waitress is not installed (pip install waitress)")
    directory = _write_app_dir(name, {**files, "_waitress_launcher.py": WAITRESS_LAUNCHER})
    port = free_port()
    argv = [sys.executable, str(directory / "_waitress_launcher.py"), str(port), app_spec]
    return _start_python_server(name, argv, directory, port)


# --------------------------------------------------------------------------
# uWSGI (WSGI) and hypercorn (ASGI): Python servers run by this test interpreter


def uwsgi_program() -> str:
    """The ``uwsgi`` command: the one beside this interpreter (``pyuwsgi``, from the
    ``test`` extra, installs it there), else the first on PATH (skip/fail if none)."""
    program = find_program("uwsgi", str(Path(sys.executable).parent / "uwsgi"))
    require(program is not None,
            "uwsgi is not installed (pip install -e '.[test]' installs pyuwsgi)")
    assert program is not None
    return program


#: How :func:`start_uwsgi` listens: uWSGI's own HTTP parser in the worker
#: (``--http-socket``), or the HTTP router, a process of its own in front of the
#: worker that speaks uwsgi to it (``--http``).
UWSGI_MODES = ("http-socket", "http")


def start_uwsgi(
    files: Mapping[str, str],
    app_spec: str,
    *,
    name: str = "uwsgi",
    mode: str = "http-socket",
    mount: str | None = None,
    ipv6_port: int | None = None,
    args: Sequence[str] = (),
) -> ManagedServer:
    """uWSGI (``--master``, one worker process) serving *app_spec* (``module:callable``)
    from *files*, over HTTP on a free port of 127.0.0.1.

    *mode* is ``"http-socket"`` or ``"http"`` (:data:`UWSGI_MODES`). With *mount*
    (``"/myapp"``) the app is mounted there (``--mount``, ``--manage-script-name``:
    uWSGI sets ``SCRIPT_NAME`` and strips it from ``PATH_INFO``). With *ipv6_port*
    (``--http-socket`` only) uWSGI listens on ``[::1]:ipv6_port`` as well.
    ``--strict`` makes an unknown option an error and ``--need-app`` a module that
    does not load; ``--die-on-term`` makes SIGTERM stop the master and its workers.
    """
    if mode not in UWSGI_MODES:
        raise ValueError(f"mode must be one of {UWSGI_MODES}, not {mode!r}")
    program = uwsgi_program()
    directory = _write_app_dir(name, files)
    port = free_port()
    listen = ["--http-socket" if mode == "http-socket" else "--http", f"127.0.0.1:{port}"]
    if ipv6_port is not None:
        if mode != "http-socket":
            raise ValueError("ipv6_port needs mode='http-socket'")
        listen += ["--http-socket", f"[::1]:{ipv6_port}"]
    module, _, attr = app_spec.partition(":")
    app = (["--mount", f"{mount}={app_spec}", "--manage-script-name"] if mount
           else ["--module", module, "--callable", attr or "application"])
    argv = [
        program, "--strict", *listen,
        "--master", "--processes", "1", "--die-on-term", "--need-app",
        "--chdir", str(directory), "--pythonpath", str(directory),
        "--pidfile", str(directory / "uwsgi.pid"),
        *app, *args,
    ]
    return _start_python_server(name, argv, directory, port, pid_file=directory / "uwsgi.pid")


def start_hypercorn(
    files: Mapping[str, str],
    app_spec: str,
    *,
    name: str = "hypercorn",
    root_path: str | None = None,
    args: Sequence[str] = (),
) -> ManagedServer:
    """hypercorn serving the ASGI *app_spec* (``module:attr``) from *files* on a free
    port of 127.0.0.1 (HTTP/1.1 and websockets; one worker; ``--root-path`` when
    *root_path* is given). hypercorn reads no forwarded header itself (its
    ``ProxyFixMiddleware`` is opt-in), so only our middleware acts.
    """
    require(importlib.util.find_spec("hypercorn") is not None,
            "hypercorn is not installed (pip install -e '.[test]')")
    directory = _write_app_dir(name, files)
    port = free_port()
    argv = [
        sys.executable, "-m", "hypercorn",
        "--bind", f"127.0.0.1:{port}",
        "--workers", "1",
        "--pid", str(directory / "hypercorn.pid"),
        "--error-logfile", str(directory / "hypercorn.log"),
        *(["--root-path", root_path] if root_path is not None else []),
        *args,
        app_spec,
    ]
    return _start_python_server(name, argv, directory, port, pid_file=directory / "hypercorn.pid",
                                logs=[directory / "hypercorn.log"])


# --------------------------------------------------------------------------
# Granian (WSGI and ASGI), run by this test interpreter


#: The interfaces :func:`start_granian` serves (Granian's ``--interface``).
GRANIAN_INTERFACES = ("wsgi", "asgi")


def start_granian(
    files: Mapping[str, str],
    app_spec: str,
    *,
    name: str = "granian",
    interface: str = "wsgi",
    url_path_prefix: str | None = None,
    args: Sequence[str] = (),
) -> ManagedServer:
    """Granian serving *app_spec* (``module:attr``) from *files* with ``--interface``
    *interface* (``"wsgi"`` or ``"asgi"``, :data:`GRANIAN_INTERFACES`) on a free port
    of 127.0.0.1: one worker, HTTP/1.1 (and websockets for ASGI), with
    ``--url-path-prefix`` when *url_path_prefix* is given. Granian has no proxy-header
    option of its own (its ``granian.utils.proxies`` wrappers are opt-in, in the
    application's code), so only our middleware acts.
    """
    if interface not in GRANIAN_INTERFACES:
        raise ValueError(f"interface must be one of {GRANIAN_INTERFACES}, not {interface!r}")
    require(importlib.util.find_spec("granian") is not None,
            "granian is not installed (pip install -e '.[test]')")
    directory = _write_app_dir(name, files)
    port = free_port()
    argv = [
        sys.executable, "-m", "granian",
        "--interface", interface,
        "--host", "127.0.0.1", "--port", str(port),
        "--http", "1",
        "--workers", "1", "--blocking-threads", "1" if interface == "asgi" else "4",
        "--backpressure", "16",
        "--pid-file", str(directory / "granian.pid"),
        "--working-dir", str(directory),
        *(["--url-path-prefix", url_path_prefix] if url_path_prefix is not None else []),
        *args,
        app_spec,
    ]
    return _start_python_server(name, argv, directory, port, pid_file=directory / "granian.pid")


# --------------------------------------------------------------------------
# The checkout, built for mod_wsgi's Python; plain Apache with mod_wsgi


@dataclass(frozen=True)
class StagedCheckout:
    """The checkout's ``trustedproxy`` package, copied where www-data can read it,
    with its C speedups compiled for the Python that mod_wsgi embeds."""

    #: The directory to put on ``sys.path`` (it holds ``trustedproxy/``).
    path: Path
    #: The compiled extension module inside it.
    extension: Path


def _modwsgi_python_paths() -> tuple[str, str]:
    """The include directory and extension suffix of mod_wsgi's Python (its venv's)."""
    python = MODWSGI_VENV / "bin" / "python"
    require(python.is_file(), f"no Python in {MODWSGI_VENV}: {INSTALL_HINT}")
    code = ("import sysconfig; print(sysconfig.get_paths()['include']); "
            "print(sysconfig.get_config_var('EXT_SUFFIX'))")
    result = subprocess.run([str(python), "-c", code], capture_output=True, text=True,
                            timeout=60, check=True)
    include, suffix = result.stdout.split()
    return include, suffix


def stage_checkout_for_modwsgi(directory: Path) -> StagedCheckout:
    """Copy this checkout's package into *directory*/``site`` and compile
    ``trustedproxy/_speedups.c`` there with gcc and the headers of mod_wsgi's
    Python (``python3-dev``), so that the code Apache runs is this checkout's,
    compiled path included. Skips (fails under ``CI=true``) without gcc or the
    headers; a compile error is an error."""
    include, suffix = _modwsgi_python_paths()
    gcc = find_program("gcc", "/usr/bin/gcc")
    require(gcc is not None, f"gcc is not installed: {INSTALL_HINT}")
    assert gcc is not None
    require((Path(include) / "Python.h").is_file(),
            f"no Python.h in {include} (python3-dev): {INSTALL_HINT}")
    site = directory / "site"
    package = site / "trustedproxy"
    shutil.copytree(REPO_ROOT / "trustedproxy", package,
                    ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.pyd", "*.pyc"))
    for path in [site, *site.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    extension = package / f"_speedups{suffix}"
    result = subprocess.run(
        [gcc, "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter",
         "-Wno-missing-field-initializers", "-shared", "-fPIC", f"-I{include}",
         str(package / "_speedups.c"), "-o", str(extension)],
        capture_output=True, text=True, timeout=300, check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"compiling _speedups.c for mod_wsgi's Python failed:\n"
                           f"{result.stdout}{result.stderr}")
    extension.chmod(0o755)
    return StagedCheckout(site, extension)


#: The modules plain Apache with mod_wsgi loads (those present), before mod_wsgi itself.
APACHE_MODWSGI_MODULES = ("mpm_event", "authz_core", "unixd", "log_config")


def start_apache_modwsgi(
    body: str, *, name: str = "apache-modwsgi", directory: Path | None = None,
    ready_target: str = "/",
) -> ManagedServer:
    """Plain Apache (``apache2 -f``, our own configuration) with mod_wsgi loaded
    from ``mod_wsgi-express module-config``, and *body* (``WSGIDaemonProcess``,
    ``WSGIScriptAlias`` ...) in its configuration.

    One child process (``ServerLimit 1``, event MPM, 16 threads), as www-data,
    on a free port of 127.0.0.1; mod_wsgi's daemon sockets live in the server's
    directory. ``{port}`` and ``{dir}`` in *body* are replaced by the listen
    port and the server's directory. *directory* (made with
    :func:`~realservers.common.make_server_dir`) is used, and removed with the
    server, instead of a new one. Ready once ``GET ready_target`` answers.
    """
    module_config = modwsgi_module_config()  # also requires www-data and root
    directory = directory or make_server_dir(name)
    return _start_apache(name, directory, APACHE_MODWSGI_MODULES, body=body,
                         more_modules=module_config, ready_target=ready_target, settings=[
                             f'WSGISocketPrefix "{directory}/wsgi"',
                             "StartServers 1", "ServerLimit 1", "ThreadsPerChild 16",
                             "MaxRequestWorkers 16", "MinSpareThreads 1", "MaxSpareThreads 64",
                             "MaxConnectionsPerChild 0"])

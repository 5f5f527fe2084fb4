"""trustedproxy: believe forwarded headers only from the proxies you trust.

Quick start::

    from trustedproxy import TrustPolicy, TrustedProxyMiddleware

    policy = TrustPolicy(trusted_proxies=["10.0.0.0/8"],
                         trusted_headers=["X-Forwarded-For", "X-Forwarded-Proto"])
    app.wsgi_app = TrustedProxyMiddleware(app.wsgi_app, policy)
"""

from .engine import Decision, Hop, Ignored, TrustEngine
from .errors import ConfigError, Problem, TrustedProxyError
from .policy import TrustPolicy
from .wsgi import TrustedProxyMiddleware

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "Decision",
    "Hop",
    "Ignored",
    "Problem",
    "TrustEngine",
    "TrustPolicy",
    "TrustedProxyError",
    "TrustedProxyMiddleware",
    "__version__",
]

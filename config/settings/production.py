"""Production settings: secrets from the environment, HTTPS everywhere, no debug.

``manage.py check --deploy --fail-level WARNING`` passes with these settings and nothing silenced
(``tests/clinic/test_schema_and_deploy.py::test_production_settings_pass_the_deploy_check`` runs it).
"""

from .base import *

DEBUG = False
SECRET_KEY = env("SECRET_KEY")  # required: no default in production
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")

# TLS is terminated by the reverse proxy, which sets X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "no-referrer"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_NAME = "__Secure-sessionid"
CSRF_COOKIE_NAME = "__Secure-csrftoken"
X_FRAME_OPTIONS = "DENY"

DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=600)

if "EMAIL_URL" not in env and "EMAIL_BACKEND" not in env:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"  # EMAIL_HOST/PORT/... from base

# The API needs no HTML browsing in production.
REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"] = ["clinic.api.renderers.JSONRenderer"]

"""Settings for a developer's machine and the demo: debug on, embedded defaults unless configured."""

from .base import *

DEBUG = env.bool("DEBUG", default=True)

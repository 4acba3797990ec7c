"""Routes under ``/forms/``: the link's welcome page, then token-free pages bound to the session.

The ``session/`` routes come first so that no token pattern can shadow them.
"""

from django.urls import path

from . import views

app_name = "forms"

urlpatterns = [
    path("session/", views.resume, name="resume"),
    path("session/open-your-link/", views.session_missing, name="session-missing"),
    path("session/step/<int:number>/", views.step, name="step"),
    path("session/step/<int:number>/autosave/", views.autosave, name="autosave"),
    path("session/review/", views.review, name="review"),
    path("session/submit/", views.submit, name="submit"),
    path("session/done/", views.done, name="done"),
    path("<str:token>/", views.welcome, name="welcome"),
    path("<str:token>/start/", views.start, name="start"),
]

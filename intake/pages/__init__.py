"""Server-rendered pages a patient reaches from a link: the intake and follow-up survey forms.

``views`` holds the flow, ``questions`` turns definitions into form fields and posted fields into
answers, ``security`` the headers, CSRF and throttling every page shares. Templates are in
``intake/templates/forms/``, the stylesheet and the progressive-enhancement script in
``intake/static/forms/``.
"""

"""Web lead capture: admin-defined forms posted to ``/forms/<form_key>``."""

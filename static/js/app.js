// Behaviour that htmx attributes cannot express lives here (no inline scripts: CSP).

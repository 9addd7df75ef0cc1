"""The planview web application: HTTP in, ``geo``/``layers`` calls, HTTP out."""

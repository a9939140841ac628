"""The web application: the app factory, views, authentication, storage and the audit trail, the
settings from the environment, the HTTP server, metrics and logs, the report.

Door rule: the outermost layer — it may import every other; nothing imports it but the command line
(``cds_service.__main__``), and protocol only for the settings value.
"""

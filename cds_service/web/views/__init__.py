"""Blueprints, one per concern. Views are thin: parse, call a plain function, answer."""

"""LEDMatrix compatibility: plugins written for ChuckBuilds/LEDMatrix run unmodified.

``base_plugin`` is what ``from src.plugin_system.base_plugin import BasePlugin``
resolves to inside a plugin module (see ``importer``); ``services`` provides the
cache/config/font managers they are constructed with.
"""

"""The plugin runtime and display loop (issue 3).

``controller.DisplayController`` is the entry point; everything else is a part
it composes: the loader (``loader``), the LEDMatrix compatibility layer
(``compat``), the pure rotation policy (``rotation``), the update scheduler
(``scheduler``), per-plugin health (``health``) and the panel backends.
"""

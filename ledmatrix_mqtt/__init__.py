"""ledmatrix-mqtt: an RGB LED matrix panel and its plugin store, driven over MQTT."""

from pathlib import Path

__version__ = "0.1.0"

# The LEDMatrix plugin API level we provide. Plugin manifests' ``compatible_versions``
# and minimum-version fields refer to LEDMatrix core versions, so the compatibility
# gate checks them against this, not against our own package version.
LEDMATRIX_API_VERSION = "3.1.0"

# The read-only folder of built-in plugins (clock, text, status) shipped with the package.
BUILTIN_PLUGINS_DIR = Path(__file__).resolve().parents[1] / "plugins"

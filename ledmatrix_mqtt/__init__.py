"""ledmatrix-mqtt: an RGB LED matrix panel and its plugin store, driven over MQTT."""

__version__ = "0.1.0"

# The LEDMatrix plugin API level we provide. Plugin manifests' ``compatible_versions``
# and minimum-version fields refer to LEDMatrix core versions, so the compatibility
# gate checks them against this, not against our own package version.
LEDMATRIX_API_VERSION = "3.1.0"

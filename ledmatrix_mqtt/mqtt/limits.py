"""Size limits of MQTT command payloads. Pure, imports nothing.

Apart from the codec so that what runs before any command is parsed (the inbound
queue, the quick ``list`` check, discovery's text entity) does not load the
command table and its argument classes.
"""

MAX_PAYLOAD_BYTES = 64 * 1024
MAX_HINT_BYTES = 512  # at most this much of a payload is parsed for a quick answer
MAX_TEXT_CHARS = 255

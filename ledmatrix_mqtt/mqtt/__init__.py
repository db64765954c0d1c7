"""The MQTT front end: command topics, retained state, Home Assistant discovery."""

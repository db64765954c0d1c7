"""``python -m ledmatrix_mqtt`` is the ``ledmatrix-mqtt`` command."""

from ledmatrix_mqtt.cli.main import main

raise SystemExit(main())

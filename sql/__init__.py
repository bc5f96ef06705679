"""The numbered SQL migrations (`001_core.sql`, …), shipped inside the installed package so a
wheel carries them; `db/migrate.py` applies them in order."""

# --- mflsync testbed (testbed/openimis-real/settings_overrides.py) ---------
# Inserted after `import os` at the top of the assembly's settings.py: core
# 1.11 reads these while settings.py is still importing it.
CACHE_OBJECT_DEFAULT = False
CACHE_OBJECT_TTL = None
IS_TESTING = False
# --async: Celery over kombu's filesystem transport (no RabbitMQ here); the
# worker and gunicorn share the folder openimis-real.sh start creates.
if os.environ.get("MFLSYNC_CELERY_BROKER_DIR"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": os.path.join(os.environ["MFLSYNC_CELERY_BROKER_DIR"], "queue"),
        "data_folder_out": os.path.join(os.environ["MFLSYNC_CELERY_BROKER_DIR"], "queue"),
        "processed_folder": os.path.join(os.environ["MFLSYNC_CELERY_BROKER_DIR"], "processed"),
        "store_processed": False,
    }
# --- end of mflsync testbed settings -------------------------------------

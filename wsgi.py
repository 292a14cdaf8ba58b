from lms import create_app

app = create_app()
#: the Celery app for `celery -A wsgi.celery_app worker` and `… beat` (lms/jobs.py)
celery_app = app.extensions["celery"]

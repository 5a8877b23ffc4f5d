"""Entry points for managed services (EMR Serverless, Dataproc Serverless) that run a file.

Each module here is both importable and the ``.py`` file a service's ``spark-submit`` runs, with
the project's wheel on ``--py-files``; it imports the package absolutely, never relatively.
"""

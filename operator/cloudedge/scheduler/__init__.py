"""The kopf front end: watch pending pods of ``cloud-edge-scheduler``, queue them, decide one
at a time with the model, bind concurrently, retry with backoff, and only while leading.
"""

"""The live cluster: API client, the watched view of nodes and pods, reservations, binding
and events. Front ends (the kopf scheduler and the extender) read the view and bind through
this package; the model never sees a Kubernetes object.
"""

"""exsim as a Binance USDⓈ-M futures venue (``exsim serve``): unchanged bots trade on a replay.

Layers, in the order a request flows (each imports only those before it)::

    binance (errors, parameters, endpoint table) ─ market / orders / account (handlers,
    streams) ─ venue (the replay, its clock, the accounts) ─ app (HTTP and WebSocket) ─ cli
"""

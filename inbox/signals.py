"""What the inbox core tells its plugins. Sent after the message's transaction has committed.

* `message_received(account_id, message_id)`: a customer's message was stored (ai_agent analyzes it).
* `message_queued(account_id, message_id)`: an outbound message waits for delivery (channels_app sends it).
"""

from django.dispatch import Signal

message_received = Signal()
message_queued = Signal()

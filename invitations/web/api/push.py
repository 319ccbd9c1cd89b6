"""/api/push: the VAPID key and this user's Web Push subscriptions (PROTOCOL, "Offline push").
HTTP only (no WebSocket command): a page or script calls them once, not per call."""

from ninja import Router

from invitations.accounts.requests import ApiRequest
from invitations.delivery import payloads, push
from invitations.web import schemas

router = Router(tags=["push"])


@router.get("/key", summary="the VAPID public key (applicationServerKey)")
def push_key(request: ApiRequest) -> payloads.PushKeyAnswer:
    return payloads.push_key_answer(push.vapid_public_key())


@router.post("/subscriptions", summary="store a push subscription (the same endpoint again replaces it)")
def push_subscription_save(request: ApiRequest, body: schemas.PushSubscriptionIn) -> payloads.PushSubscriptionAnswer:
    subscription = push.push_subscription_save(
        user=request.auth,
        endpoint=body.endpoint,
        p256dh=body.keys.p256dh,
        auth=body.keys.auth,
        device_id=body.device_id,
    )
    return payloads.push_subscription_answer(subscription.endpoint, subscription.device_id)


@router.delete("/subscriptions", summary="remove a push subscription")
def push_subscription_delete(request: ApiRequest, body: schemas.PushSubscriptionDeleteIn) -> payloads.PushRemovedAnswer:
    return payloads.push_removed_answer(push.push_subscription_delete(user=request.auth, endpoint=body.endpoint))

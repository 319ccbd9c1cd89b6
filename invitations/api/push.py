"""/api/push: the VAPID key and this user's Web Push subscriptions (PROTOCOL, "Offline push")."""
from django.http import HttpRequest
from ninja import Router

from .. import schemas, services

router = Router(tags=["push"])


@router.get("/key", summary="the VAPID public key (applicationServerKey)")
def push_key(request: HttpRequest) -> dict[str, str]:
    return {"publicKey": services.vapid_public_key()}


@router.post("/subscriptions", summary="store a push subscription (the same endpoint again replaces it)")
def push_subscription_save(request: HttpRequest, body: schemas.PushSubscriptionIn) -> dict[str, str]:
    subscription = services.push_subscription_save(user=request.auth, endpoint=body.endpoint, p256dh=body.keys.p256dh,
                                                   auth=body.keys.auth, device_id=body.device_id)
    return {"endpoint": subscription.endpoint, "deviceID": subscription.device_id}


@router.delete("/subscriptions", summary="remove a push subscription")
def push_subscription_delete(request: HttpRequest, body: schemas.PushSubscriptionDeleteIn) -> dict[str, bool]:
    return {"removed": services.push_subscription_delete(user=request.auth, endpoint=body.endpoint)}

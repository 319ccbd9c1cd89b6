"""The invitation-list pages (/calls/). Owned by the invitation-list work (issue 4)."""
urlpatterns: list = []

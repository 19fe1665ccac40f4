DEMO_PASSWORD = "demo-password-2026"  # noqa: S105


def seed():
    raise NotImplementedError

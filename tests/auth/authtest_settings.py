"""Settings of the test project of the auth app's tests (and of the
gunicorn server they start). The database comes from FINDIG_DATABASE_URL."""

SECRET_KEY = "auth-tests-0123456789abcdefghijklmnopqrstuvwxyz"
INSTALLED_APPS = ["findig.contrib.auth", "authtest_app"]
ALLOWED_HOSTS = ["localhost", "127.0.0.1"]
# Cheap argon2 parameters: the tests hash and verify many passwords.
PASSWORD_HASH_OPTIONS = {
    "argon2__memory_cost": 1024,
    "argon2__rounds": 1,
    "argon2__parallelism": 1,
}

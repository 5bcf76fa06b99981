"""The files of the documentation page of :mod:`findig.tools.openapi`: the
vendored Swagger UI (``swagger-ui-dist``, Apache 2.0; refreshed by
``scripts/fetch_swagger_ui.py``) and Findig's initializer script. This
package holds data only."""

// Starts Swagger UI on Findig's API documentation page (part of Findig, not
// of the vendored swagger-ui-dist). It is a file rather than an inline script
// so that the page can be served with a strict Content-Security-Policy. The
// page names the OpenAPI document in the data-spec-url attribute of the
// #swagger-ui element.
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-spec-url"),
    domNode: root,
    deepLinking: true,
    displayOperationId: true,
    displayRequestDuration: true,
    showExtensions: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
})();

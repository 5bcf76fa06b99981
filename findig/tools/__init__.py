"""Higher-level tools for Findig applications: validation, hit counting,
authorization and data sets. Each is optional and plugs into an app without
changes to its resources."""

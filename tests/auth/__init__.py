"""Tests of findig.contrib.auth (a package, so that its conftest does not
clash with the other test folders' when doctest modules are collected)."""

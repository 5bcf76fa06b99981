"""The app registry: configs, contributions, and errors naming the app."""

from __future__ import annotations

import click
import pytest

from findig.dispatcher import Dispatcher
from findig.project.apps import AppConfig, AppImportError, apps
from findig.project.conf import ImproperlyConfigured, settings


def test_default_config(make_project):
    project = make_project(apps={"blog": {}})
    name = project.app_name("blog")
    (config,) = apps.get_app_configs()
    assert type(config) is AppConfig
    assert config.name == name
    assert config.label == name
    assert config.url_prefix == ""
    assert config.path == project.root / name
    assert config.migrations_dir is None
    assert config.get_dispatcher() is None
    assert config.import_models() is None
    assert config.get_commands() == []
    assert apps.get_app_config(name) is config


def test_config_subclass_is_the_first_one_defined(make_project, notes_app):
    files = dict(notes_app)
    files["apps.py"] = (
        "from findig.project.apps import AppConfig as Imported\n"
        + notes_app["apps.py"]
        + "\nclass Later(Imported):\n    label = 'later'\n"
    )
    project = make_project(apps={"notes": files})
    (config,) = apps.get_app_configs()
    assert type(config).__name__ == "NotesConfig"
    assert config.url_prefix == "/notes"
    assert config.label == project.app_name("notes")
    assert isinstance(config.get_dispatcher(), Dispatcher)
    assert config.import_models() is not None


def test_custom_label_and_lookup(make_project):
    make_project(
        apps={
            "blog": {
                "apps.py": """
                from findig.project.apps import AppConfig

                class BlogConfig(AppConfig):
                    label = "blog"
                """
            }
        }
    )
    config = apps.get_app_config("blog")
    assert config.label == "blog"
    with pytest.raises(LookupError, match=r"No installed app with label 'nope'.*blog"):
        apps.get_app_config("nope")


def test_duplicate_labels_are_refused(make_project):
    label_config = """
    from findig.project.apps import AppConfig

    class Config(AppConfig):
        label = "same"
    """
    make_project(
        apps={"one": {"apps.py": label_config}, "two": {"apps.py": label_config}}
    )
    with pytest.raises(ImproperlyConfigured, match="same label 'same'"):
        apps.get_app_configs()


def test_missing_app_is_named(make_project):
    make_project(installed=["no_such_app_xyz"])
    with pytest.raises(
        AppImportError, match="Cannot import app 'no_such_app_xyz'"
    ) as info:
        apps.get_app_configs()
    assert info.value.app_name == "no_such_app_xyz"


@pytest.mark.parametrize("module", ["models", "resources", "commands"])
def test_errors_in_app_modules_name_the_app_and_module(make_project, module):
    project = make_project(
        apps={"broken": {f"{module}.py": "import no_such_dependency_xyz\n"}}
    )
    name = project.app_name("broken")
    (config,) = apps.get_app_configs()
    call = {
        "models": config.import_models,
        "resources": config.get_dispatcher,
        "commands": config.get_commands,
    }[module]
    with pytest.raises(AppImportError) as info:
        call()
    message = str(info.value)
    assert f"app {name!r}" in message
    assert f"{name}.{module}" in message
    assert "no_such_dependency_xyz" in message


def test_syntax_error_in_apps_module_names_the_app(make_project):
    project = make_project(apps={"broken": {"apps.py": "class (:\n"}})
    with pytest.raises(
        AppImportError, match=f"'{project.app_name('broken')}'.*SyntaxError"
    ):
        apps.get_app_configs()


def test_resources_need_a_dispatcher(make_project):
    project = make_project(apps={"blog": {"resources.py": "dispatcher = 42\n"}})
    (config,) = apps.get_app_configs()
    with pytest.raises(
        ImproperlyConfigured, match=f"{project.app_name('blog')}.resources.dispatcher"
    ):
        config.get_dispatcher()


def test_invalid_url_prefix(make_project):
    make_project(
        apps={
            "blog": {
                "apps.py": """
                from findig.project.apps import AppConfig

                class BlogConfig(AppConfig):
                    url_prefix = "blog/"
                """
            }
        }
    )
    with pytest.raises(ImproperlyConfigured, match="url_prefix 'blog/'"):
        apps.get_app_configs()


COMMANDS = """
import click

from other_module_{suffix} import imported


@click.command()
def hello():
    click.echo("hello")


@click.group()
def tools():
    pass


@tools.command()
def inner():
    pass
"""


def test_commands_are_discovered(make_project):
    project = make_project(apps={"blog": {"commands.py": COMMANDS}})
    project.write(
        f"other_module_{project.suffix}.py",
        "import click\n\n@click.command()\ndef imported():\n    pass\n",
    )
    (config,) = apps.get_app_configs()
    names = [command.name for command in config.get_commands()]
    # Defined here (not imported), subcommands only under their group.
    assert names == ["hello", "tools"]


def test_commands_list_wins(make_project):
    make_project(
        apps={
            "blog": {
                "commands.py": """
                import click

                @click.command()
                def listed():
                    pass

                @click.command()
                def unlisted():
                    pass

                commands = [listed]
                """
            }
        }
    )
    (config,) = apps.get_app_configs()
    assert [c.name for c in config.get_commands()] == ["listed"]
    assert all(isinstance(c, click.Command) for c in config.get_commands())


def test_commands_list_must_hold_commands(make_project):
    make_project(apps={"blog": {"commands.py": "commands = ['nope']\n"}})
    (config,) = apps.get_app_configs()
    with pytest.raises(ImproperlyConfigured, match="list of click commands"):
        config.get_commands()


def test_registry_follows_installed_apps(make_project):
    project = make_project(apps={"one": {}, "two": {}})
    assert [c.name for c in apps.get_app_configs()] == [
        project.app_name("one"),
        project.app_name("two"),
    ]
    with settings.override(INSTALLED_APPS=[project.app_name("two")]):
        assert [c.name for c in apps] == [project.app_name("two")]
    assert len(apps.get_app_configs()) == 2


def test_containing_app(make_project):
    project = make_project(apps={"one": {}})
    name = project.app_name("one")
    assert apps.get_containing_app_config(f"{name}.models").name == name
    assert apps.get_containing_app_config(name + "x.models") is None


def test_migrations_dir(make_project):
    project = make_project(apps={"one": {}})
    (project.root / project.app_name("one") / "migrations").mkdir()
    (config,) = apps.get_app_configs()
    assert (
        config.migrations_dir == project.root / project.app_name("one") / "migrations"
    )

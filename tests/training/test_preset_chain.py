"""A record keeps what a preset's name meant when it ran: the chain of presets it came from."""

from training.presets import describe, list_presets, preset_chain, preset_path


def test_every_preset_chain_starts_with_its_name_and_follows_each_files_base():
    for name in list_presets():
        chain = preset_chain(name)
        assert chain[0] == name
        for preset, base in zip(chain, chain[1:]):
            assert describe(preset_path(preset))["preset"] == base
        assert describe(preset_path(chain[-1]))["preset"] is None  # the chain's end starts afresh


def test_the_default_chain_reaches_the_recipe_it_is_built_on():
    chain = preset_chain("default")
    assert len(chain) > 1 and chain[0] == "default"


def test_no_preset_or_an_unreadable_one():
    assert preset_chain(None) is None and preset_chain("") is None
    assert preset_chain("no-such-preset") == ["no-such-preset"]

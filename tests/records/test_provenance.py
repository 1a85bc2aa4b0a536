import os

from records.provenance import cpu_description

ZEN5 = "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 26\nmodel\t\t: 2\n" \
    "model name\t: AMD EPYC\n\nprocessor\t: 1\ncpu family\t: 26\nmodel\t\t: 2\n"


def test_the_cpu_is_named_with_its_family_and_model():
    # A virtual machine names Zen 4 and Zen 5 EPYCs alike; the family tells them apart.
    assert cpu_description(ZEN5) == f"AMD EPYC (family 26, model 2), {os.cpu_count()} cores"
    assert cpu_description("processor\t: 0\nmodel name\t: Some CPU\n").startswith("Some CPU, ")

"""``cloudedge run --tls-cert-file/--tls-private-key-file``: both or neither, and readable.

Serving with a real certificate is proven end to end in tests/faults/test_faults_extender.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudedge import app, errors


def test_no_tls_flags_serve_plain_http() -> None:
    assert app.extender_tls(app.RunOptions()) is None


@pytest.mark.parametrize(
    ("cert", "key"),
    [pytest.param("tls.crt", None, id="cert-only"), pytest.param(None, "tls.key", id="key-only")],
)
def test_half_a_tls_configuration_is_a_config_error(cert: str | None, key: str | None) -> None:
    opts = app.RunOptions(tls_cert_file=cert, tls_private_key_file=key)
    with pytest.raises(errors.ConfigError, match="go together"):
        app.extender_tls(opts)


def test_an_unreadable_certificate_is_a_config_error_naming_it(tmp_path: Path) -> None:
    cert = tmp_path / "tls.crt"
    cert.write_text("not a certificate")
    opts = app.RunOptions(tls_cert_file=str(cert), tls_private_key_file=str(tmp_path / "k"))
    with pytest.raises(errors.ConfigError, match=r"tls\.crt"):
        app.extender_tls(opts)

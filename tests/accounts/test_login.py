import pytest

from tests.conftest import PASSWORD


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "label"),
    [("oncologist", "Oncologist"), ("nurse", "Nurse"), ("admin", "Administrator")],
)
def test_each_role_signs_in_and_is_greeted_by_name_and_role(client, make_user, role, label):
    make_user(f"user-{role}", role, first_name="Sam", last_name="Rivera")
    response = client.post(
        "/login/", {"username": f"user-{role}", "password": PASSWORD}, follow=True
    )
    assert response.redirect_chain[-1][0] == "/"
    html = response.content.decode()
    assert "Welcome, Sam Rivera" in html
    assert f">{label}</" in html


@pytest.mark.django_db
def test_wrong_password_shows_an_error_and_stays_signed_out(client, nurse):
    response = client.post("/login/", {"username": "nurse", "password": "wrong-password"})
    assert response.status_code == 200
    assert "enter a correct username and password" in response.content.decode()
    assert client.get("/").status_code == 302


def test_anonymous_user_is_sent_to_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


@pytest.mark.django_db
def test_sign_out_ends_the_session(client, nurse):
    client.force_login(nurse)
    assert client.get("/").status_code == 200
    client.post("/logout/")
    assert client.get("/").status_code == 302

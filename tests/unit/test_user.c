/* guest-set-user-password with chpasswd faked: what it would be fed. */
#include "../../src/commands/user.c"

#include "fake_run.h"

static int
setup(void **state)
{
	(void)state;
	fake_run_reset();
	return 0;
}

static json_t *
set_password(const char *user, const char *b64pw, bool crypted,
    struct qga_error *err)
{
	struct qga_args_guest_set_user_password a = {
		.username = user, .password = b64pw, .crypted = crypted,
	};

	return qmp_guest_set_user_password(&a, NULL, err);
}

static void
test_plain(void **state)
{
	struct qga_error err = { 0 };
	json_t *r;

	(void)state;
	/* "s3cret pass" */
	r = set_password("alice", "czNjcmV0IHBhc3M=", false, &err);
	assert_false(qga_error_isset(&err));
	assert_true(json_is_object(r) && json_object_size(r) == 0);
	json_decref(r);
	assert_int_equal(fake_run.calls, 1);
	assert_string_equal(fake_run_argv(), "chpasswd");
	assert_string_equal(fake_run.input, "alice:s3cret pass\n");
	assert_int_equal(fake_run.inlen, strlen("alice:s3cret pass\n"));
	assert_string_equal(fake_run.action, "set user password");
}

static void
test_crypted(void **state)
{
	struct qga_error err = { 0 };

	(void)state;
	/* "$6$salt$hash" */
	json_decref(set_password("bob", "JDYkc2FsdCRoYXNo", true, &err));
	assert_false(qga_error_isset(&err));
	assert_string_equal(fake_run_argv(), "chpasswd|-e");
	assert_string_equal(fake_run.input, "bob:$6$salt$hash\n");
}

static void
test_forbidden(void **state)
{
	struct qga_error err = { 0 };

	(void)state;
	/* "a\nb" */
	assert_null(set_password("alice", "YQpi", false, &err));
	expect_error(&err, "forbidden characters in raw password");
	/* "a\0b" */
	assert_null(set_password("alice", "YQBi", false, &err));
	expect_error(&err, "forbidden characters in raw password");
	assert_null(set_password("al:ice", "YQ==", false, &err));
	expect_error(&err, "forbidden characters in username");
	assert_null(set_password("al\nice", "YQ==", false, &err));
	expect_error(&err, "forbidden characters in username");
	/* The password is checked first, as in qemu-ga. */
	assert_null(set_password("a:b", "YQpi", false, &err));
	expect_error(&err, "forbidden characters in raw password");
	assert_null(set_password("alice", "not base64!", false, &err));
	expect_error(&err, "Base64 data contains invalid characters");
	assert_int_equal(fake_run.calls, 0);
}

static void
test_empty_password(void **state)
{
	struct qga_error err = { 0 };

	(void)state;
	json_decref(set_password("carol", "", false, &err));
	assert_false(qga_error_isset(&err));
	assert_string_equal(fake_run.input, "carol:\n");
}

static void
test_chpasswd_fails(void **state)
{
	struct qga_error err = { 0 };

	(void)state;
	fake_run.fail = "child process has failed to set user password: "
	    "chpasswd: line 1: user 'nobody2' does not exist";
	assert_null(set_password("nobody2", "YQ==", false, &err));
	expect_error(&err, "child process has failed to set user password: "
	    "chpasswd: line 1: user 'nobody2' does not exist");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_plain, setup),
		cmocka_unit_test_setup(test_crypted, setup),
		cmocka_unit_test_setup(test_forbidden, setup),
		cmocka_unit_test_setup(test_empty_password, setup),
		cmocka_unit_test_setup(test_chpasswd_fails, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

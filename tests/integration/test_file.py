"""guest-file-*: handles, open modes, read/write/seek/flush/close, limits and
errors. Runs against qgad and qemu-ga (qga-spec.md §2.3 "guest-file-open /
read / write / seek / flush / close", §5 file-ops and file-write-read)."""
import os
import stat
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'lib'))
from qgatest import Agent, b64, is_qemu_ga, main, unb64  # noqa: E402
from qgaaction import ActionTest, connect  # noqa: E402

READ_MAX = 48 * 1024 * 1024
HELLO = b'Hello World!\n\0'


class FileTest(ActionTest):
    def path(self, name):
        return os.path.join(self.agent.dir, name)

    def open(self, name, mode=None):
        args = {'path': name}
        if mode is not None:
            args['mode'] = mode
        h = self.c.ok('guest-file-open', args)
        self.assertIsInstance(h, int)
        return h

    def read(self, h, count=None):
        args = {'handle': h}
        if count is not None:
            args['count'] = count
        return self.c.ok('guest-file-read', args)

    def write(self, h, data, count=None):
        args = {'handle': h, 'buf-b64': b64(data)}
        if count is not None:
            args['count'] = count
        return self.c.ok('guest-file-write', args)

    def seek(self, h, offset, whence):
        return self.c.ok('guest-file-seek',
                         {'handle': h, 'offset': offset, 'whence': whence})

    def close(self, h):
        self.assertEqual(self.c.ok('guest-file-close', {'handle': h}), {})

    def make(self, name, data):
        with open(self.path(name), 'wb') as f:
            f.write(data)


class TestQgaSteps(FileTest):
    """test-qga.c's /qga/file-ops and /qga/file-write-read, step by step."""

    def test_file_ops(self):
        h = self.open('foo', 'w+')
        self.assertEqual(self.write(h, HELLO), {'count': 14, 'eof': False})
        self.assertEqual(self.c.ok('guest-file-flush', {'handle': h}), {})
        self.close(h)
        with open(self.path('foo'), 'rb') as f:
            self.assertEqual(f.read(), HELLO)
        h = self.open('foo', 'r')
        self.assertEqual(self.read(h),
                         {'count': 14, 'eof': True, 'buf-b64': b64(HELLO)})
        self.assertEqual(self.read(h), {'count': 0, 'eof': True, 'buf-b64': ''})
        self.assertEqual(self.seek(h, 6, 'set'), {'position': 6, 'eof': False})
        r = self.read(h)
        self.assertEqual((r['count'], r['eof']), (8, True))
        self.assertEqual(unb64(r['buf-b64']), HELLO[6:])
        self.close(h)

    def test_file_write_read(self):
        h = self.open('foo', 'w+')
        self.assertEqual(self.write(h, HELLO), {'count': 14, 'eof': False})
        # Reading right after writing flushes first, at the end of the data.
        self.assertEqual(self.read(h), {'count': 0, 'eof': True, 'buf-b64': ''})
        self.assertEqual(self.seek(h, 0, 'set'), {'position': 0, 'eof': False})
        self.assertEqual(self.read(h),
                         {'count': 14, 'eof': True, 'buf-b64': b64(HELLO)})
        self.close(h)


class TestHandles(FileTest):
    def test_handles_increase_and_persist(self):
        a = self.open('h1', 'w')
        b = self.open('h1', 'r')
        self.assertEqual(b, a + 1)
        with open(self.path('qga.state')) as f:
            state = f.read()
        self.assertIn('fd_counter=%d' % (b + 1), state)
        self.close(a)
        c = self.open('h1', 'r')
        self.assertEqual(c, b + 1, 'closed handles are not reused')
        self.close(b)
        self.close(c)

    def test_unknown_and_closed_handle(self):
        h = self.open('h2', 'w')
        self.close(h)
        for cmd, extra in [('guest-file-read', {}),
                           ('guest-file-write', {'buf-b64': ''}),
                           ('guest-file-seek', {'offset': 0, 'whence': 0}),
                           ('guest-file-flush', {}),
                           ('guest-file-close', {})]:
            for bad in (h, 999999999, -1):
                args = dict(extra, handle=bad)
                self.assertError(self.c.cmd(cmd, args),
                                 desc="handle '%d' has not been found" % bad)


class TestRestart(FileTest):
    """Handles come from qga.state: never reused across restarts, and an
    edited counter is honoured."""

    def test_counter_survives_restart(self):
        statedir = tempfile.mkdtemp(prefix='qga-state-')
        try:
            with Agent(statedir=statedir) as a1:
                c = connect(a1)
                h1 = c.ok('guest-file-open', {'path': 'x', 'mode': 'w'})
                c.close()
            with Agent(statedir=statedir) as a2:
                c = connect(a2)
                h2 = c.ok('guest-file-open', {'path': 'x', 'mode': 'w'})
                c.close()
            self.assertEqual(h2, h1 + 1)
            with open(os.path.join(statedir, 'qga.state'), 'w') as f:
                f.write('[global]\nfd_counter=5\n')
            with Agent(statedir=statedir) as a3:
                c = connect(a3)
                self.assertEqual(c.ok('guest-file-open', {'path': 'x', 'mode': 'w'}), 5)
                self.assertEqual(c.ok('guest-file-open', {'path': 'x', 'mode': 'w'}), 6)
                c.close()
        finally:
            for n in os.listdir(statedir):
                os.unlink(os.path.join(statedir, n))
            os.rmdir(statedir)


class TestOpen(FileTest):
    def test_default_mode_is_read(self):
        self.make('m0', b'abc')
        h = self.open('m0')
        self.assertEqual(unb64(self.read(h)['buf-b64']), b'abc')
        self.assertError(self.c.cmd('guest-file-write', {'handle': h, 'buf-b64': b64(b'x')}),
                         desc='failed to write to file: Bad file descriptor')
        self.close(h)

    def test_all_modes(self):
        modes = {
            'r': (False, True, False), 'rb': (False, True, False),
            'w': (True, False, True), 'wb': (True, False, True),
            'a': (True, False, False), 'ab': (True, False, False),
            'r+': (False, True, False), 'rb+': (False, True, False),
            'r+b': (False, True, False),
            'w+': (True, True, True), 'wb+': (True, True, True),
            'w+b': (True, True, True),
            'a+': (True, True, False), 'ab+': (True, True, False),
            'a+b': (True, True, False),
        }
        for mode, (creates, readable, truncates) in modes.items():
            with self.subTest(mode=mode):
                name = 'mode-' + mode.replace('+', 'p')
                r = self.c.cmd('guest-file-open', {'path': name, 'mode': mode})
                if creates:
                    self.assertIn('return', r)
                    self.close(r['return'])
                    self.assertTrue(os.path.exists(self.path(name)))
                else:
                    self.assertError(r, desc="failed to open file '%s' (mode: '%s'): "
                                     'No such file or directory' % (name, mode))
                self.make(name, b'0123456789')
                h = self.open(name, mode)
                r = self.c.cmd('guest-file-read', {'handle': h, 'count': 4})
                if readable:
                    want = b'' if truncates else b'0123'
                    self.assertEqual(unb64(r['return']['buf-b64']), want)
                else:
                    self.assertError(r, desc='failed to read file: Bad file descriptor')
                self.close(h)
                with open(self.path(name), 'rb') as f:
                    self.assertEqual(f.read(), b'' if truncates else b'0123456789')

    def test_invalid_modes(self):
        for mode in ('rw', '', 'r+x', 'R', 'rb+ ', 'x'):
            self.assertError(self.c.cmd('guest-file-open', {'path': 'inv', 'mode': mode}),
                             desc="invalid file open mode '%s'" % mode)
        self.assertFalse(os.path.exists(self.path('inv')))

    def test_new_file_is_0666_whatever_the_umask(self):
        h = self.open('perm-new', 'w')
        self.close(h)
        self.assertEqual(stat.S_IMODE(os.stat(self.path('perm-new')).st_mode), 0o666)
        # An existing file keeps its bits.
        self.make('perm-old', b'')
        os.chmod(self.path('perm-old'), 0o600)
        h = self.open('perm-old', 'w')
        self.close(h)
        self.assertEqual(stat.S_IMODE(os.stat(self.path('perm-old')).st_mode), 0o600)

    def test_open_errors(self):
        self.assertError(self.c.cmd('guest-file-open', {'path': 'nope/x', 'mode': 'w'}),
                         desc="failed to open file 'nope/x' (mode: 'w'): "
                         'No such file or directory')
        os.mkdir(self.path('dir'))
        self.assertError(self.c.cmd('guest-file-open', {'path': 'dir', 'mode': 'w'}),
                         desc="failed to open file 'dir' (mode: 'w'): Is a directory")

    def test_directory_opens_but_does_not_read(self):
        os.mkdir(self.path('d2'))
        h = self.open('d2', 'r')
        self.assertError(self.c.cmd('guest-file-read', {'handle': h}),
                         desc='failed to read file: Is a directory')
        self.close(h)

    def test_absolute_path(self):
        self.make('abs', b'xyz')
        h = self.open(self.path('abs'), 'r')
        self.assertEqual(unb64(self.read(h)['buf-b64']), b'xyz')
        self.close(h)

    def test_fifo_does_not_block(self):
        os.mkfifo(self.path('fifo'))
        h = self.open('fifo', 'r')
        # No writer: EOF at once instead of a hung agent.
        self.assertEqual(self.read(h), {'count': 0, 'eof': True, 'buf-b64': ''})
        self.assertError(self.c.cmd('guest-file-seek', {'handle': h, 'offset': 0,
                                                        'whence': 'set'}),
                         desc='failed to seek file: Illegal seek')
        self.close(h)
        self.c.ok('guest-ping')


class TestRead(FileTest):
    def test_default_count_is_4096(self):
        data = os.urandom(10000)
        self.make('big', data)
        h = self.open('big')
        r = self.read(h)
        self.assertEqual((r['count'], r['eof']), (4096, False))
        self.assertEqual(unb64(r['buf-b64']), data[:4096])
        r = self.read(h, 10000)
        self.assertEqual((r['count'], r['eof']), (10000 - 4096, True))
        self.assertEqual(unb64(r['buf-b64']), data[4096:])
        self.close(h)

    def test_count_zero_and_exact_size(self):
        self.make('z', b'12345')
        h = self.open('z')
        self.assertEqual(self.read(h, 0), {'count': 0, 'eof': False, 'buf-b64': ''})
        # Exactly the remaining size: the stream has not seen EOF yet.
        self.assertEqual(self.read(h, 5), {'count': 5, 'eof': False, 'buf-b64': b64(b'12345')})
        self.assertEqual(self.read(h, 5), {'count': 0, 'eof': True, 'buf-b64': ''})
        self.close(h)

    def test_count_limits(self):
        self.make('lim', b'abc')
        h = self.open('lim')
        for bad in (-1, READ_MAX + 1, 2 ** 62):
            self.assertError(self.c.cmd('guest-file-read', {'handle': h, 'count': bad}),
                             desc="value '%d' is invalid for argument count" % bad)
        self.assertEqual(self.read(h, READ_MAX),
                         {'count': 3, 'eof': True, 'buf-b64': b64(b'abc')})
        self.close(h)

    @unittest.skipIf(is_qemu_ga(), 'qemu-ga needs minutes to encode and send 64 MiB; '
                     'the cap itself is checked in test_count_limits')
    def test_read_at_cap_of_larger_file(self):
        data = os.urandom(READ_MAX + 7)
        self.make('cap', data)
        h = self.open('cap')
        r = self.big_cmd('guest-file-read', {'handle': h, 'count': READ_MAX})['return']
        self.assertEqual((r['count'], r['eof']), (READ_MAX, False))
        self.assertTrue(unb64(r['buf-b64']) == data[:READ_MAX])
        r = self.read(h, READ_MAX)
        self.assertEqual((r['count'], r['eof']), (7, True))
        self.assertEqual(unb64(r['buf-b64']), data[READ_MAX:])
        self.close(h)
        os.unlink(self.path('cap'))


class TestWrite(FileTest):
    def test_multi_megabyte_round_trip(self):
        data = os.urandom(5 * 1024 * 1024 + 123)
        h = self.open('rt', 'w+')
        off = 0
        for size in (1, 4096, 1024 * 1024, 3 * 1024 * 1024):
            self.assertEqual(self.write(h, data[off:off + size]),
                             {'count': size, 'eof': False})
            off += size
        self.assertEqual(self.write(h, data[off:])['count'], len(data) - off)
        self.c.ok('guest-file-flush', {'handle': h})
        with open(self.path('rt'), 'rb') as f:
            self.assertTrue(f.read() == data)
        self.assertEqual(self.seek(h, 0, 'set'), {'position': 0, 'eof': False})
        got = b''
        while True:
            r = self.read(h, 1024 * 1024)
            got += unb64(r['buf-b64'])
            if r['eof']:
                break
        self.assertTrue(got == data, 'read back differs')
        self.close(h)

    def test_count(self):
        h = self.open('cnt', 'w')
        self.assertEqual(self.write(h, b'abcdef', 2), {'count': 2, 'eof': False})
        self.assertEqual(self.write(h, b'', 0), {'count': 0, 'eof': False})
        self.assertEqual(self.write(h, b''), {'count': 0, 'eof': False})
        for bad in (-1, 7):
            self.assertError(self.c.cmd('guest-file-write', {'handle': h, 'buf-b64': b64(b'abcdef'),
                                                             'count': bad}),
                             desc="value '%d' is invalid for argument count" % bad)
        self.close(h)
        with open(self.path('cnt'), 'rb') as f:
            self.assertEqual(f.read(), b'ab')

    def test_bad_base64(self):
        h = self.open('b64', 'w')
        for bad in ('a b', 'QUJD!', 'QU-_', '\u00e9'):
            self.assertError(self.c.cmd('guest-file-write', {'handle': h, 'buf-b64': bad}),
                             desc='Base64 data contains invalid characters')
        # Newlines are allowed inside the text.
        self.assertEqual(self.c.ok('guest-file-write', {'handle': h, 'buf-b64': 'QUJD\nREVG\n'}),
                         {'count': 6, 'eof': False})
        self.close(h)
        with open(self.path('b64'), 'rb') as f:
            self.assertEqual(f.read(), b'ABCDEF')

    def test_append_mode(self):
        self.make('app', b'one')
        h = self.open('app', 'a+')
        self.seek(h, 0, 'set')
        self.write(h, b'two')
        self.close(h)
        with open(self.path('app'), 'rb') as f:
            self.assertEqual(f.read(), b'onetwo')

    def test_write_after_read(self):
        self.make('rw', b'0123456789')
        h = self.open('rw', 'r+')
        self.assertEqual(unb64(self.read(h, 4)['buf-b64']), b'0123')
        self.write(h, b'ab')
        self.assertEqual(unb64(self.read(h, 2)['buf-b64']), b'67')
        self.close(h)
        with open(self.path('rw'), 'rb') as f:
            self.assertEqual(f.read(), b'0123ab6789')


class TestSeek(FileTest):
    def test_whence_forms(self):
        self.make('s', b'0123456789')
        h = self.open('s', 'r')
        self.assertEqual(self.seek(h, 3, 0), {'position': 3, 'eof': False})
        self.assertEqual(self.seek(h, 2, 1), {'position': 5, 'eof': False})
        self.assertEqual(self.seek(h, 2, 'cur'), {'position': 7, 'eof': False})
        self.assertEqual(self.seek(h, -1, 2), {'position': 9, 'eof': False})
        self.assertEqual(self.seek(h, -4, 'end'), {'position': 6, 'eof': False})
        self.assertEqual(unb64(self.read(h)['buf-b64']), b'6789')
        # Past the end is fine and clears eof.
        self.assertEqual(self.seek(h, 100, 'set'), {'position': 100, 'eof': False})
        self.assertEqual(self.read(h), {'count': 0, 'eof': True, 'buf-b64': ''})
        self.close(h)

    def test_seek_errors(self):
        self.make('se', b'abc')
        h = self.open('se', 'r')
        for code in (3, -1, 100):
            self.assertError(self.c.cmd('guest-file-seek', {'handle': h, 'offset': 0,
                                                            'whence': code}),
                             desc='invalid whence code %d' % code)
        r = self.c.cmd('guest-file-seek', {'handle': h, 'offset': 0, 'whence': 'middle'})
        self.assertError(r)
        self.assertError(self.c.cmd('guest-file-seek', {'handle': h, 'offset': -1,
                                                        'whence': 'set'}),
                         desc='failed to seek file: Invalid argument')
        # The failed seek did not move the stream.
        self.assertEqual(self.seek(h, 0, 'cur'), {'position': 0, 'eof': False})
        self.close(h)

    def test_seek_past_end_then_write_extends(self):
        h = self.open('hole', 'w+')
        self.assertEqual(self.seek(h, 5, 'set')['position'], 5)
        self.write(h, b'x')
        self.close(h)
        with open(self.path('hole'), 'rb') as f:
            self.assertEqual(f.read(), b'\0' * 5 + b'x')


if __name__ == '__main__':
    main()

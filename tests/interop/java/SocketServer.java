// An SSLServerSocket server for the interop tests (tests/interop/peers.py, JavaPeer).
//
// Usage: java SocketServer KEYSTORE.p12 PASSWORD
// Listens on 127.0.0.1, an ephemeral port, and prints "ready port=N" on stdout.
// One connection at a time, on purpose: the next connection is accepted only once the
// previous one is fully handled, so a client's close is always processed before its next
// handshake (no race between a close and the resumption attempt).
// Each connection: handshake, read until EOF or an exception, close. One line per connection
// on stderr says how it ended and whether the session was still valid afterwards.
//
// The behaviour under test is the JDK's: SSLSocketImpl turns an EOF without close_notify into
// a close_notify (unless com.sun.net.ssl.requireCloseNotify=true) and an RST into fatal(),
// which invalidates the session (docs/tls-semantics.md 1.3).

import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.SocketTimeoutException;
import java.security.KeyStore;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLServerSocket;
import javax.net.ssl.SSLSession;
import javax.net.ssl.SSLSocket;

public final class SocketServer {
  static final int READ_TIMEOUT_MS = 30_000;

  static SSLContext context(String keystore, char[] password) throws Exception {
    KeyStore ks = KeyStore.getInstance("PKCS12");
    try (FileInputStream in = new FileInputStream(keystore)) {
      ks.load(in, password);
    }
    KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
    kmf.init(ks, password);
    SSLContext ctx = SSLContext.getInstance("TLS");
    ctx.init(kmf.getKeyManagers(), null, null);
    return ctx;
  }

  public static void main(String[] args) throws Exception {
    SSLContext ctx = context(args[0], args[1].toCharArray());
    SSLServerSocket listener = (SSLServerSocket) ctx.getServerSocketFactory()
        .createServerSocket(0, 50, InetAddress.getByName("127.0.0.1"));
    System.out.println("ready port=" + listener.getLocalPort());
    System.out.flush();
    byte[] buf = new byte[4096];
    while (true) {
      SSLSocket s = (SSLSocket) listener.accept();
      String how = "eof";
      SSLSession session = null;
      try {
        s.setSoTimeout(READ_TIMEOUT_MS);
        s.startHandshake();
        session = s.getSession();
        InputStream in = s.getInputStream();
        while (in.read(buf) >= 0) {
          // discard: the clients under test send nothing
        }
      } catch (SocketTimeoutException e) {
        how = "timeout";
      } catch (IOException e) {
        how = "exception " + e.getClass().getSimpleName() + ": " + e.getMessage();
      } finally {
        try {
          s.close();
        } catch (IOException e) {
          how += "; close: " + e.getMessage();
        }
      }
      System.err.println("connection " + s.getPort() + " ended by " + how + "; session "
          + (session == null ? "none" : (session.isValid() ? "valid" : "invalid")));
    }
  }
}

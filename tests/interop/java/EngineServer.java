// An SSLEngine server over a blocking SocketChannel, closing the way Netty's SslHandler and
// Jetty <= 9.3.19 / <= 9.4.5 did: when the channel read returns -1 (EOF) or throws (RST), it
// calls engine.closeInbound() and catches the SSLException ("closing inbound before receiving
// peer's close_notify"). On JDK 17.0.6+ (JDK-8273553) that no longer invalidates the session;
// before it, closeInbound() ran fatal() and invalidated it (docs/tls-semantics.md 1.2, 1.6).
//
// Usage: java EngineServer KEYSTORE.p12 PASSWORD
// Listens on 127.0.0.1, an ephemeral port, prints "ready port=N" on stdout, and handles one
// connection at a time (see SocketServer.java for why). One line per connection on stderr.

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLEngineResult;
import javax.net.ssl.SSLEngineResult.HandshakeStatus;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLSession;

public final class EngineServer {
  static final int READ_TIMEOUT_MS = 30_000;

  private final SocketChannel channel;
  private final Selector selector;
  private final SSLEngine engine;
  private final ByteBuffer netIn;
  private final ByteBuffer netOut;
  private final ByteBuffer appIn;
  private boolean inboundClosedByPeer = false;  // close_notify received

  EngineServer(SocketChannel channel, SSLEngine engine) throws IOException {
    this.channel = channel;
    channel.configureBlocking(false);
    selector = Selector.open();
    channel.register(selector, SelectionKey.OP_READ);
    this.engine = engine;
    SSLSession s = engine.getSession();
    netIn = ByteBuffer.allocate(s.getPacketBufferSize());
    netOut = ByteBuffer.allocate(s.getPacketBufferSize());
    appIn = ByteBuffer.allocate(s.getApplicationBufferSize());
  }

  // Reads from the channel into netIn, waiting at most READ_TIMEOUT_MS; -1 on EOF.
  // IOException on RST or timeout.
  private int fill() throws IOException {
    if (selector.select(READ_TIMEOUT_MS) == 0) throw new SocketTimeoutException("read timeout");
    selector.selectedKeys().clear();
    return channel.read(netIn);
  }

  // Writes netOut out. The records are small and the socket buffer empty, so a non-blocking
  // write finishes at once; bounded all the same.
  private void flush() throws IOException {
    netOut.flip();
    for (int i = 0; netOut.hasRemaining(); i++) {
      if (channel.write(netOut) == 0) {
        if (i > 1000) throw new IOException("write stalled");
        Thread.onSpinWait();
      }
    }
    netOut.clear();
  }

  void close() throws IOException {
    selector.close();
    channel.close();
  }

  private void wrapPending() throws IOException {
    while (true) {
      HandshakeStatus hs = engine.getHandshakeStatus();
      if (hs == HandshakeStatus.NEED_TASK) {
        Runnable task;
        while ((task = engine.getDelegatedTask()) != null) task.run();
        continue;
      }
      if (hs != HandshakeStatus.NEED_WRAP) return;
      SSLEngineResult r = engine.wrap(ByteBuffer.allocate(0), netOut);
      flush();
      if (r.getStatus() == SSLEngineResult.Status.CLOSED) return;
    }
  }

  // Unwraps whatever is in netIn. Returns false once the peer's close_notify was seen.
  private boolean unwrapAll() throws IOException {
    netIn.flip();
    try {
      while (netIn.hasRemaining()) {
        SSLEngineResult r = engine.unwrap(netIn, appIn);
        appIn.clear();  // discard application data
        wrapPending();  // handshake messages, TLS 1.3 NewSessionTicket, close_notify answer
        if (r.getStatus() == SSLEngineResult.Status.CLOSED) {
          inboundClosedByPeer = true;
          return false;
        }
        if (r.getStatus() == SSLEngineResult.Status.BUFFER_UNDERFLOW) break;
      }
      return true;
    } finally {
      netIn.compact();
    }
  }

  // Serves one connection; returns how it ended.
  String serve() throws IOException {
    engine.beginHandshake();
    wrapPending();  // nothing for a server, but keeps the loop uniform
    while (true) {
      int n;
      try {
        n = fill();
      } catch (IOException e) {
        // RST: Netty ends up in channelInactive -> closeInbound(); do the same.
        return "read exception " + e.getMessage() + "; " + closeInboundLikeNetty();
      }
      if (n < 0) return "eof; " + closeInboundLikeNetty();
      if (!unwrapAll()) {
        engine.closeOutbound();
        try {
          wrapPending();
        } catch (IOException e) {
          return "close_notify; answer failed: " + e.getMessage();
        }
        return "close_notify";
      }
    }
  }

  private String closeInboundLikeNetty() {
    String what;
    try {
      engine.closeInbound();
      what = "closeInbound ok";
    } catch (SSLException e) {
      what = "closeInbound threw \"" + e.getMessage() + "\"";
    }
    // Then the outbound side, as SslHandler does when the channel closes: flush what the
    // engine queued (a close_notify, or an alert after a fatal error) into the dead socket.
    engine.closeOutbound();
    try {
      wrapPending();
    } catch (IOException e) {
      what += "; flush failed";
    }
    return what;
  }

  public static void main(String[] args) throws Exception {
    SSLContext ctx = SocketServer.context(args[0], args[1].toCharArray());
    ServerSocketChannel listener = ServerSocketChannel.open();
    listener.bind(new InetSocketAddress(InetAddress.getByName("127.0.0.1"), 0), 50);
    System.out.println("ready port=" + listener.socket().getLocalPort());
    System.out.flush();
    while (true) {
      SocketChannel ch = listener.accept();
      int port = ch.socket().getPort();
      SSLEngine engine = ctx.createSSLEngine();
      engine.setUseClientMode(false);
      EngineServer conn = new EngineServer(ch, engine);
      String how;
      try {
        how = conn.serve();
      } catch (IOException e) {
        how = "exception " + e.getClass().getSimpleName() + ": " + e.getMessage();
      } finally {
        conn.close();
      }
      SSLSession session = engine.getSession();
      System.err.println("connection " + port + " ended by " + how
          + "; session " + (session.isValid() ? "valid" : "invalid") + " "
          + session.getProtocol());
    }
  }
}

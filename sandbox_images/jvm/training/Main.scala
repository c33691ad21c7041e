object Main { def main(args: Array[String]): Unit = { val l = scala.io.StdIn.readLine(); println("hello, " + l) } }

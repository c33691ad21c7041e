fun main() { val l = readLine(); println("hello, $l") }

public class Main { public static void main(String[] a) { java.util.Scanner s = new java.util.Scanner(System.in); System.out.println("hello, " + (s.hasNextLine() ? s.nextLine() : "")); } }
